// The Images view: "My uploads" and "All images".

import { mountAllImages } from './all-images.js';
import { mountMyUploads } from './my-uploads.js';

export function mountImagesView() {
  mountMyUploads();
  const allImages = mountAllImages();
  return {
    setLimits: allImages.setLimits,
    show: allImages.show,
    hide: allImages.hide,
  };
}
