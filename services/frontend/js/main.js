// Start-up: mount the views, follow the address, take files from anywhere on the window,
// and fetch the server's limits.

import { getLimits } from './api.js';
import { mountDeleteLink } from './delete-link.js';
import { listenForFiles } from './file-intake.js';
import { currentView, goTo, onViewChange } from './router.js';
import { mountShareX } from './sharex.js';
import { mountLinksFile } from './uploads-file.js';
import { mountAlbumPage } from './views/album-page.js';
import { mountImagePage } from './views/image-page.js';
import { mountImagesView } from './views/images-view.js';
import { mountMyAlbums } from './views/my-albums.js';
import { mountUploadView } from './views/upload-view.js';

const byId = (id) => document.getElementById(id);

const TITLES = { upload: 'Upload', images: 'Images', image: 'Image', album: 'Album', delete: 'Delete an image' };

const uploadView = mountUploadView();
const imagesView = mountImagesView();
mountMyAlbums();
mountLinksFile();
const shareX = mountShareX();
// The views whose content depends on the address (their show() loads it).
const pages = { image: mountImagePage(), album: mountAlbumPage(), delete: mountDeleteLink() };

function show(name, { initial, route }) {
  for (const section of document.querySelectorAll('.view')) {
    section.hidden = section.dataset.view !== name;
  }
  for (const link of document.querySelectorAll('.tabs__link')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} · imagehost`;
  if (name === 'images') imagesView.show();
  else imagesView.hide();
  if (pages[name]) pages[name].show(route);
  // Tell screen readers (and keyboard users) where they are now; not on first load.
  if (!initial) byId(`${name}-title`).focus({ preventScroll: false });
}

onViewChange(show);

listenForFiles({
  onFiles(files) {
    if (currentView() !== 'upload') goTo('upload');
    uploadView.addFiles(files);
  },
  onDragChange(dragging) {
    document.body.classList.toggle('is-dragging', dragging);
    uploadView.setDragging(dragging);
  },
});

async function loadLimits() {
  const banner = byId('banner');
  try {
    const limits = await getLimits();
    banner.hidden = true;
    uploadView.setLimits(limits);
    imagesView.setLimits(limits);
    shareX.setLimits(limits);
  } catch (error) {
    byId('banner-text').textContent = `Could not load this server's upload limits: ${error.message}`;
    banner.hidden = false;
    uploadView.setLimits(null);
  }
}

byId('banner-retry').addEventListener('click', loadLimits);
loadLimits();
