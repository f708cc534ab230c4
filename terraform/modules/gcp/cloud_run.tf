# fnproxy's container image (Dockerfile, `fnproxy serve`) on Cloud Run: off by default
# (var.cloud_run_enabled). Cloud Run forwards one port of a container; this service forwards the
# gRPC port, 50051, over HTTP/2 end to end (h2c), so gRPC clients (grpcurl, the action modules'
# routers) reach fnproxy's gRPC server at its URL on 443; REST stays with the API function. It
# runs as the API function's service account with the functions' settings, so it has the same
# rights and reaches the same store, topics and secret; its async work goes to the async topic's
# worker function. The image is pushed to Artifact Registry by cloudbuild.yaml (_CLOUD_RUN=true)
# or by hand (docs/deploy.md section 12).

locals {
  grpc_service_name = "${var.name_prefix}-grpc"
  grpc_port         = 50051

  # What the service sets beyond the functions' settings.
  grpc_settings = {
    GRPC_PORT = tostring(local.grpc_port)
    # Cloud Run stops an instance 10 s after SIGTERM: running work gets 8 of them.
    SHUTDOWN_GRACE_S = "8"
  }
  grpc_environment       = merge(local.function_environment, local.grpc_settings)
  grpc_setting_overrides = setintersection(keys(var.extra_environment), keys(local.grpc_settings))

  # The API function's ingress setting, in Cloud Run's words.
  cloud_run_ingress = {
    ALLOW_ALL               = "INGRESS_TRAFFIC_ALL"
    ALLOW_INTERNAL_AND_GCLB = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    ALLOW_INTERNAL_ONLY     = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  }
}

resource "google_cloud_run_v2_service" "grpc" {
  count = var.cloud_run_enabled ? 1 : 0

  project             = var.project_id
  location            = var.region
  name                = local.grpc_service_name
  description         = "fnproxy gRPC (the Dockerfile's image: fnproxy serve)"
  labels              = local.labels
  ingress             = local.cloud_run_ingress[var.api_ingress]
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.api.email
    timeout                          = "${var.api_timeout_seconds}s"
    max_instance_request_concurrency = var.api_concurrency

    scaling {
      min_instance_count = var.api_min_instances
      max_instance_count = var.api_max_instances
    }

    containers {
      image = var.cloud_run_image

      ports {
        name           = "h2c"
        container_port = local.grpc_port
      }

      resources {
        limits = {
          cpu    = var.api_cpu
          memory = var.api_memory
        }
      }

      dynamic "env" {
        for_each = local.grpc_environment
        content {
          name  = env.key
          value = env.value
        }
      }

      # The standard grpc.health.v1 service of fnproxy's gRPC server.
      startup_probe {
        period_seconds    = 3
        timeout_seconds   = 2
        failure_threshold = 10

        grpc {
          port = local.grpc_port
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.cloud_run_image != null
      error_message = "cloud_run_image is required with cloud_run_enabled: the image built from the Dockerfile, in Artifact Registry."
    }
    precondition {
      condition     = length(local.extra_overrides) == 0 && length(local.grpc_setting_overrides) == 0
      error_message = "extra_environment may not set what the module sets itself: ${join(", ", tolist(setunion(local.extra_overrides, local.grpc_setting_overrides)))}."
    }
  }

  # The IAM the service needs from its first request on.
  depends_on = [
    google_project_iam_member.datastore_user,
    google_pubsub_topic_iam_member.publisher,
    google_secret_manager_secret_iam_member.accessor,
    google_secret_manager_secret_iam_member.viewer,
  ]
}
