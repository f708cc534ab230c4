# The GCP root of the dev environment: module "gcp" (terraform/modules/gcp) and
# the google provider only, so planning it needs no AWS credentials (the AWS root is
# terraform/envs/dev/aws). Values fixed for dev are set in the module call below; the
# ones an operator changes are variables (see terraform.tfvars.example).
#
# Before `terraform apply`: `make build` (the source zip), gcloud authenticated where terraform
# runs (it sets the worker subscription's dead-letter policy), and the deploying identity needs
# roles/iam.serviceAccountUser on the function and trigger service accounts it creates (an owner
# has it). After it: add the signing key, `gcloud secrets versions add` (output gcp_secret_id).

provider "google" {
  project = var.gcp_project_id
  region  = var.gcp_region

  default_labels = {
    environment = "dev"
    managed-by  = "terraform"
  }
}

module "gcp" {
  source = "../../../modules/gcp"

  project_id      = var.gcp_project_id
  region          = var.gcp_region
  name_prefix     = var.gcp_name_prefix
  labels          = { environment = "dev" }
  source_zip_path = coalesce(var.gcp_source_zip_path, "${path.root}/../../../../build/gcp/fnproxy-gcp-source.zip")

  build_service_account = var.gcp_build_service_account

  # Small and cheap: scale to zero, few instances.
  api_min_instances      = 0
  api_max_instances      = 3
  api_timeout_seconds    = 120
  public_api             = var.gcp_public_api
  worker_min_instances   = 0
  worker_max_instances   = 3
  worker_timeout_seconds = 300

  async_max_delivery_attempts  = 5
  configure_worker_dead_letter = var.gcp_configure_worker_dead_letter
  dead_letter_retention        = "604800s"
  pubsub_kms_key_name          = var.gcp_pubsub_kms_key_name

  create_firestore_database   = var.gcp_create_firestore_database
  firestore_database          = var.gcp_firestore_database
  firestore_location          = var.gcp_firestore_location
  firestore_collection_prefix = "fnproxy"
  deletion_protection         = false

  secret_kms_key_name = var.gcp_secret_kms_key_name

  invocable_functions  = var.gcp_invocable_functions
  allow_list_functions = var.gcp_allow_list_functions

  log_level              = var.gcp_log_level
  function_timeout       = 25
  history_retention_days = 7
  extra_environment      = var.gcp_extra_environment
}
