#!/usr/bin/env python3
"""Signs each request in a JSON case file with botocore's S3 SigV4 signer and prints the
Authorization header of each, one per line, so Cairn's signer can be compared with it.

Input: [{"method", "url", "headers": {name: value}, "body", "region", "key", "secret", "token", "time"}]
The URL is built by the caller from the key exactly as boto3 does (quote(key, safe='/~')).
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    request = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
    credentials = Credentials(case["key"], case["secret"], case.get("token"))
    when = datetime.datetime.strptime(case["time"], "%Y%m%dT%H%M%SZ")
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        botocore.auth.S3SigV4Auth(credentials, "s3", case["region"]).add_auth(request)
    return request.headers["Authorization"]


if __name__ == "__main__":
    for case in json.load(open(sys.argv[1])):
        print(sign(case))
