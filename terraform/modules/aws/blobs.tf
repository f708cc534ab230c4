# The archive (issue 15): one private S3 bucket holding the payloads, results and logs fnproxy
# keeps out of its records (core/invoke/archive.py), as objects under
# <var.blobs_prefix>/functions/<base64url function key>/<execution id>/<part>.
#
# - Private: every public access setting blocked, ACLs off (the bucket owner owns every object),
#   a bucket policy refusing any request not made over TLS. Readers get a presigned GET that
#   lives BLOBS_URL_TTL_S (5 minutes by default), signed with the function's role.
# - Encrypted with the module's KMS key (SSE-KMS, with an S3 bucket key so a burst of writes does
#   not cost one KMS call per object).
# - Versioning off: an object is written once under its execution's key, and deleting a
#   function (DELETE /v1/functions/{key}) or the lifecycle below must really remove the content.
#   Versions would keep every deleted payload as a non-current copy, and restore nothing the
#   record could use (it holds the SHA-256 of the one version it wrote).
# - Retention: objects under the prefix expire after var.archive_retention_days, which must be
#   longer than var.history_retention_days: a record must never outlive the objects it refers
#   to, and DynamoDB's TTL deletes an expired record only within a few days, not at once.
#   Incomplete multipart uploads (anywhere in the bucket) are aborted after a day.

resource "aws_s3_bucket" "blobs" {
  # checkov:skip=CKV_AWS_21:Versioning is off on purpose: an object is written once, and deleting a function or the lifecycle rule must remove the content, not keep it as a non-current version.
  # checkov:skip=CKV_AWS_144:No cross-region replication: the archive is transient (it expires after archive_retention_days) and a second copy elsewhere would outlive a function's deletion.
  # checkov:skip=CKV2_AWS_62:No event notifications: fnproxy itself writes and reads every object; nothing reacts to them.
  bucket        = lower("${var.name}-blobs-${local.account_id}")
  force_destroy = var.blobs_force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = var.archive_retention_days > var.history_retention_days
      error_message = "archive_retention_days must be longer than history_retention_days: a record would otherwise outlive the objects it refers to."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "blobs" {
  bucket                  = aws_s3_bucket.blobs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "blobs" {
  bucket = aws_s3_bucket.blobs.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: IAM alone grants access
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "blobs" {
  bucket = aws_s3_bucket.blobs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "blobs" {
  bucket = aws_s3_bucket.blobs.id

  rule {
    id     = "expire-archive"
    status = "Enabled"

    filter {
      prefix = local.blobs_key_prefix
    }

    expiration {
      days = var.archive_retention_days
    }
  }

  # Over the whole bucket: an upload that never completed is no object of anyone's.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "blobs_bucket" {
  statement {
    sid       = "RefuseRequestsWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.blobs.arn, "${aws_s3_bucket.blobs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "blobs" {
  bucket = aws_s3_bucket.blobs.id
  policy = data.aws_iam_policy_document.blobs_bucket.json

  # S3 refuses a policy while the public access block is being applied.
  depends_on = [aws_s3_bucket_public_access_block.blobs]
}
