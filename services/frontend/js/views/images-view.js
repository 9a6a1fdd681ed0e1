// The Images view: the owner's overview (with the admin token), "My uploads" and "All images".

import { mountAllImages } from './all-images.js';
import { mountMyUploads } from './my-uploads.js';
import { mountOverview } from './overview.js';

export function mountImagesView() {
  const overview = mountOverview(document.querySelector('#images-view .panel'));
  mountMyUploads();
  const allImages = mountAllImages({ onTokenChange: overview.setToken });
  return {
    setLimits: allImages.setLimits,
    show() {
      allImages.show();
      overview.show();
    },
    hide() {
      allImages.hide();
      overview.hide();
    },
  };
}
