#!/usr/bin/env python3
"""Make the stand-in's bucket as imagehost needs it (README, "Images in an S3 bucket"):
anyone may GET its objects (nginx fetches them unsigned; no listing), and the site's
page may POST to it (direct uploads). Idempotent: run on every start.

Environment: S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the user start.sh
made), SITE_ORIGINS (space-separated origins allowed to POST).
"""

import json
import os

import boto3
from botocore.config import Config

bucket = os.environ["S3_BUCKET"]
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
anyone_reads = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
        }
    ],
}
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(anyone_reads))
s3.put_bucket_cors(
    Bucket=bucket,
    CORSConfiguration={
        "CORSRules": [
            {
                "AllowedOrigins": os.environ["SITE_ORIGINS"].split(),
                "AllowedMethods": ["POST"],
                "AllowedHeaders": ["*"],
                "MaxAgeSeconds": 3600,
            }
        ]
    },
)
print(f"imagehost-s3: bucket {bucket}: anyone may read its objects; {os.environ['SITE_ORIGINS']} may POST")
