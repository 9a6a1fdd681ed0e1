"""The route table: every URL the backend answers, in one place.

nginx serves `/images/<name>` files and the page itself; these are the rest. Each worker
process builds its `Router` from this table (worker_process.run).
"""

from . import albums, direct_uploads, handlers, metrics, pages
from .router import Route

ROUTES = (
    Route("POST", "/upload", handlers.upload),
    # Direct uploads to the bucket (S3_DIRECT_UPLOADS): a presigned POST, then complete.
    Route("POST", "/api/uploads", direct_uploads.start_upload),
    Route("POST", "/api/uploads/{upload_id}/complete", direct_uploads.complete_upload),
    Route("GET", "/api/images", handlers.list_images),
    Route("GET", "/images", handlers.list_images),  # the design's name for the listing
    Route("GET", "/api/images/{name}", handlers.get_image),
    Route("PATCH", "/api/images/{name}", handlers.update_image),
    Route("DELETE", "/api/images/{name}", handlers.delete_image),
    Route("GET", "/api/stats", handlers.stats),
    Route("GET", "/api/public/images/{name}", pages.public_image_view),
    Route("POST", "/api/albums", albums.create_album),
    Route("GET", "/api/albums/{album_id}", albums.get_album),
    Route("PATCH", "/api/albums/{album_id}", albums.update_album),
    Route("DELETE", "/api/albums/{album_id}", albums.delete_album),
    Route("GET", "/api/cards/i/{name}", pages.image_card),
    Route("GET", "/api/cards/a/{album_id}", pages.album_card),
    Route("GET", "/api/limits", handlers.limits),
    Route("GET", "/api/health", handlers.health),
    Route("POST", "/api/backup", handlers.create_backup),
    Route("GET", "/api/backup", handlers.download_backup),
    Route("POST", "/backup/", handlers.create_backup),  # the design's address for backups
    Route("GET", "/backup/", handlers.download_backup),
    Route("GET", "/api/version", handlers.version_info),
    Route("GET", "/version", handlers.version_info),
    # Prometheus scrapes; nginx lets only METRICS_ALLOW's addresses reach it.
    Route("GET", "/metrics", metrics.scrape),
)
