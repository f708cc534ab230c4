# The Google provider only: init, validate and plan need nothing of AWS.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0" # the gcp module needs >= 6.0
    }
  }
}
