# The bucket Cloud Build reads the functions' source from. The object's name carries the zip's
# MD5: a new build is a new object, and both functions' storage_source change, so they redeploy.

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62:Build-artifact bucket written only by terraform; object access is in Cloud Audit Logs, a second bucket for usage logs adds nothing here.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "source" {
  name   = "fnproxy-gcp-source-${filemd5(var.source_zip_path)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_zip_path
}
