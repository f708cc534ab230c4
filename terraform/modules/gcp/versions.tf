terraform {
  # terraform_data (1.4) and optional object attributes (1.3); the envs pin >= 1.5.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # google_firestore_database.deletion_policy, google_cloudfunctions2_function.build_config
      # .service_account and google_cloud_run_v2_service_iam_member are in 5.x;
      # google_cloud_run_v2_service.deletion_protection (true unless set) came with 6.0.
      version = ">= 6.0, < 7.0"
    }
  }
}
