"""The page with direct uploads (S3_DIRECT_UPLOADS): it asks the server for a presigned
POST, sends the file straight to the bucket (a real radosgw, with the CORS rule
docs/s3.md gives for the site's origin) with progress, completes, and shows the same
result as an upload through /upload."""

from __future__ import annotations

import pytest
from page_actions import a_file, choose_files, image_path, link_of, natural_size, picture, stored_uploads, upload_row
from playwright.sync_api import expect
from support import images
from support.configuration import bucket_settings
from support.s3_server import let_anyone_read
from support.stack import start_stack

pytestmark = pytest.mark.runs_once  # its own engines and bucket, whatever the configuration

PREFIX = "site/"


@pytest.fixture(scope="module")
def direct_stack(tmp_path_factory, s3_endpoint):
    """(stack, the bucket's URL as the page posts to it): direct uploads on, the bucket
    readable under PREFIX and open to POSTs from the stack's origin."""
    bucket = s3_endpoint.new_bucket()
    let_anyone_read(s3_endpoint, bucket, PREFIX)
    try:
        with start_stack(
            tmp_path_factory.mktemp("direct-page"),
            **bucket_settings(s3_endpoint, bucket, PREFIX),
            S3_DIRECT_UPLOADS="true",
        ) as stack:
            cors = {"AllowedOrigins": [stack.base_url], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"]}
            s3_endpoint.client().put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [cors]})
            yield stack, f"{s3_endpoint.url}/{bucket}"
    finally:
        s3_endpoint.remove_bucket(bucket)


def posts_of(page) -> list[str]:
    """The URLs of the POSTs the page sends from now on, in order."""
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    return sent


def test_the_page_uploads_through_the_bucket_shows_the_link_and_the_image_loads(open_page, direct_stack):
    stack, bucket_url = direct_stack
    page = open_page(stack.base_url)
    sent = posts_of(page)
    page.goto("/#upload")
    choose_files(page, [picture("straight.png", 11)])

    row = upload_row(page, "straight.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    url = link_of(row)
    assert stack.get(image_path(url)).status == 200
    assert natural_size(page, url) == [240, 160]
    base = stack.base_url
    assert sent[:2] == [f"{base}/api/uploads", bucket_url]
    assert sent[2].startswith(f"{base}/api/uploads/") and sent[2].endswith("/complete")
    assert f"{base}/upload" not in sent


def test_a_file_whose_name_hides_its_type_goes_through_upload_and_is_judged_by_its_bytes(open_page, direct_stack):
    stack, bucket_url = direct_stack
    page = open_page(stack.base_url)
    sent = posts_of(page)
    page.goto("/#upload")
    # A JPEG named .heic: the browser declares image/heic, which the bucket's policy would
    # not take; the server leaves the file to /upload, which reads its bytes.
    choose_files(page, [a_file("photo.heic", images.jpeg(6, 4), "image/heic")])

    row = upload_row(page, "photo.heic")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    assert stack.get(image_path(link_of(row))).status == 200
    assert sent == [f"{stack.base_url}/api/uploads", f"{stack.base_url}/upload"]
    assert bucket_url not in sent


def test_details_typed_on_the_page_reach_the_image_through_the_complete(open_page, direct_stack):
    stack, bucket_url = direct_stack
    page = open_page(stack.base_url)
    sent = posts_of(page)
    page.goto("/#upload")
    page.locator("#upload-details summary").click()
    page.get_by_label("Title (all files)").fill("Straight from the bucket")
    page.get_by_label("Tags (all files)").fill("Harbour, Evening Light")
    page.get_by_label("Delete after (all files)").select_option(label="1 day")
    choose_files(page, [picture("detailed.png", 12)])
    page.get_by_role("button", name="Upload 1 file").click()

    row = upload_row(page, "detailed.png")
    expect(row.get_by_text("Uploaded")).to_be_visible()
    expect(row.locator(".chip")).to_have_text(["harbour", "evening-light"])
    [stored] = stored_uploads(page)
    assert (stored["title"], stored["tags"]) == ("Straight from the bucket", ["harbour", "evening-light"])
    assert stored["expires_at"] is not None
    assert bucket_url in sent
