// The Images view: the owner's overview (with the admin token), "My uploads" and "All images".

import { mountAllImages } from './all-images.js';
import { mountMyUploads } from './my-uploads.js';
import { mountOverview } from './overview.js';

export function mountImagesView() {
  const mine = document.querySelector('#images-view .panel');
  const all = document.querySelector('#images-view .panel[aria-labelledby="all-title"]');
  const end = document.createComment('end of the Images view');
  all.after(end);
  const overview = mountOverview(mine);
  mountMyUploads();
  // With the admin token, the whole gallery is what its owner came for: All images comes
  // right after the overview, before this browser's own uploads and albums (in the
  // document, so the keyboard order follows).
  const arrange = (token) => (token ? mine.before(all) : end.before(all));
  const allImages = mountAllImages({
    onTokenChange: (token) => {
      overview.setToken(token);
      arrange(token);
    },
  });
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
