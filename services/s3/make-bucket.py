#!/usr/bin/env python3
"""Make the stand-in's bucket as imagehost needs it (README, "Images in an S3 bucket"):
anyone may GET its images and previews (nginx fetches them unsigned; no listing, and not
the staged direct uploads, whose bytes nobody has checked yet: docs/s3.md), and the
site's page may POST to it (direct uploads). Idempotent: run on every start.

Environment: S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the user start.sh
made), SITE_ORIGINS (space-separated origins allowed to POST).
"""

import json
import os
from typing import Any

import boto3
from botocore.config import Config

# The extensions of imagehost's accepted types, in their order. This container holds no
# imagehost code, so the policy is written out here; tests/unit/test_stand_in_bucket.py
# checks it is object_store.public_read_policy(bucket, ""), which says why previews
# need ARNs of their own.
IMAGE_EXTENSIONS = (".png", ".jpg", ".gif", ".webp", ".avif")


def anyone_reads(bucket: str) -> dict[str, Any]:
    """The bucket policy: anyone may GET `<name><ext>` and `previews/<name><ext>.webp`."""
    resources = [f"arn:aws:s3:::{bucket}/*{extension}" for extension in IMAGE_EXTENSIONS] + [
        f"arn:aws:s3:::{bucket}/previews/*{extension}.webp" for extension in IMAGE_EXTENSIONS
    ]
    anyone_gets = {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"], "Resource": resources}
    return {"Version": "2012-10-17", "Statement": [anyone_gets]}


def main() -> None:
    bucket, origins = os.environ["S3_BUCKET"], os.environ["SITE_ORIGINS"]
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:7480",
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    if bucket not in {found["Name"] for found in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(anyone_reads(bucket)))
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": origins.split(),
                    "AllowedMethods": ["POST"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )
    print(f"imagehost-s3: bucket {bucket}: anyone may read its images and previews; {origins} may POST")


if __name__ == "__main__":
    main()
