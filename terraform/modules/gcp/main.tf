# fnproxy on GCP: the API (HTTP Cloud Function, entry point `http`) and the async worker
# (Pub/Sub-triggered Cloud Function, entry point `worker`), both from handlers/gcp_function.py,
# over Firestore, Pub/Sub and Secret Manager. Files: storage.tf (source zip), functions.tf,
# firestore.tf (database, indexes and TTL from firestore_schema.json), pubsub.tf (topics and
# the worker's dead-lettering), secrets.tf, iam.tf (service accounts, least privilege), blobs.tf
# (the archive bucket), monitoring.tf (log-based metrics and alert policies), and, optionally,
# cloud_run.tf (the container image on Cloud Run, serving gRPC).

# Read at plan time, so the Cloud Resource Manager API must be enabled before the first plan
# (a prerequisite in docs/deploy.md section 5; enabling it below in the same apply is too late).
data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Not compute.googleapis.com: the functions are built by fnproxy's own build service account
  # (iam.tf) and run as fnproxy's, never as the Compute Engine default service account.
  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob: the archive's signed URLs (blobs.tf)
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]

  api_function_name    = "${var.name_prefix}-api"
  worker_function_name = "${var.name_prefix}-worker"
  secret_id            = coalesce(var.secret_id, "${var.name_prefix}-module-secret-key")

  # The Google-managed identity Pub/Sub pushes and dead-letters with.
  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  labels = merge({ app = "fnproxy" }, var.labels)
}

resource "google_project_service" "enabled" {
  for_each = toset(var.enable_apis ? local.apis : [])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
