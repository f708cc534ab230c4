# Service accounts and least privilege. Nothing here grants a role with a wildcard, an owner or
# editor role, or a project-level role beyond Firestore data access and (optionally) listing
# Cloud Functions.
#
#   api      the API function (and the Cloud Run service of cloud_run.tf, when enabled):
#            Firestore data (its database only), publish events and async work, read the
#            signing-key secret, invoke var.invocable_functions.
#   worker   the worker function: the same store, events, secret and invoke needs, plus publish
#            to the dead-letter topic (malformed messages).
#   trigger  Eventarc's identity pushing the async topic to the worker: run.invoker on the
#            worker's service only.
#   build    Cloud Build's identity building both functions (unless var.build_service_account
#            names another): build logs, the image in Artifact Registry, read the sources.
#   Pub/Sub service agent (Google's): mints the trigger's OIDC tokens, forwards messages that
#            exhausted their attempts to the dead-letter topic.

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-api"
  display_name = "fnproxy API function"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-worker"
  display_name = "fnproxy async worker function"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-trigger"
  display_name = "fnproxy worker trigger (Eventarc)"

  depends_on = [google_project_service.enabled]
}

# --- the functions' build ------------------------------------------------------------------
# Cloud Functions builds each function with Cloud Build, as the build service account. Left
# unset, that is the project's default one, which in a project created since mid-2024 is the
# Compute Engine default service account: it has no role where the organisation policy
# iam.automaticIamGrantsForDefaultServiceAccounts is enforced (the default for new
# organisations), and it exists only once the Compute Engine API is enabled. So fnproxy builds
# as its own account, with the roles Google documents for a custom build service account:
# write the build logs, push the image to Artifact Registry (the gcf-artifacts repository the
# service creates on the first build), and read the source (the copy the service keeps in its
# gcf-v2-sources-<project number>-<region> bucket, and this module's bucket), limited by an
# IAM condition to those two buckets.

resource "google_service_account" "build" {
  count = var.build_service_account == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "fnproxy functions build (Cloud Build)"

  depends_on = [google_project_service.enabled]
}

locals {
  build_service_account = var.build_service_account != null ? var.build_service_account : google_service_account.build[0].id

  # Project roles of fnproxy's own build account (none when var.build_service_account is given).
  build_roles = var.build_service_account == null ? toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ]) : toset([])

  build_source_buckets = [
    google_storage_bucket.source.name,
    "gcf-v2-sources-${data.google_project.this.number}-${var.region}",
  ]
}

resource "google_project_iam_member" "build" {
  for_each = local.build_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build[0].email}"
}

resource "google_project_iam_member" "build_source_reader" {
  count = var.build_service_account == null ? 1 : 0

  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build[0].email}"

  condition {
    title       = "fnproxy-function-sources"
    description = "Only the buckets holding fnproxy's function sources"
    expression = join(" || ", [
      for bucket in local.build_source_buckets :
      "resource.name == \"projects/_/buckets/${bucket}\" || resource.name.startsWith(\"projects/_/buckets/${bucket}/\")"
    ])
  }
}

# IAM is eventually consistent: a build started right after its account got its roles can be
# refused them. The functions wait 60 s once, when those grants are made (terraform_data and
# local-exec are built in: no provider to add).
resource "terraform_data" "build_iam_propagation" {
  count = var.build_service_account == null ? 1 : 0

  triggers_replace = concat(
    [for grant in google_project_iam_member.build : grant.id],
    google_project_iam_member.build_source_reader[*].id,
  )

  provisioner "local-exec" {
    command = "sleep 60"
  }
}

locals {
  runtime_members = {
    api    = "serviceAccount:${google_service_account.api.email}"
    worker = "serviceAccount:${google_service_account.worker.email}"
  }

  # Who publishes where: the API records outcomes (events) and enqueues async work; the worker
  # records outcomes and copies malformed messages to the dead-letter topic.
  topic_publishers = {
    "api/events"               = { member = local.runtime_members.api, topic = google_pubsub_topic.events.id }
    "api/async"                = { member = local.runtime_members.api, topic = google_pubsub_topic.async.id }
    "worker/events"            = { member = local.runtime_members.worker, topic = google_pubsub_topic.events.id }
    "worker/async-dead-letter" = { member = local.runtime_members.worker, topic = google_pubsub_topic.async_dead_letter.id }
  }

  # GET /health pings the events and async topics (pubsub.topics.get: roles/pubsub.viewer).
  topic_viewers = {
    "api/events" = { member = local.runtime_members.api, topic = google_pubsub_topic.events.id }
    "api/async"  = { member = local.runtime_members.api, topic = google_pubsub_topic.async.id }
  }

  database_resource = "projects/${var.project_id}/databases/${local.firestore_database}"

  invocable = {
    for f in var.invocable_functions :
    "${coalesce(f.project, var.project_id)}/${coalesce(f.region, var.region)}/${f.name}" => {
      project  = coalesce(f.project, var.project_id)
      location = coalesce(f.region, var.region)
      function = f.name
      service  = coalesce(f.service, lower(f.name))
    }
  }

  invoker_grants = {
    for pair in setproduct(keys(local.invocable), keys(local.runtime_members)) :
    "${pair[1]}:${pair[0]}" => merge(local.invocable[pair[0]], { member = local.runtime_members[pair[1]] })
  }
}

# --- Firestore ------------------------------------------------------------------------------
# Firestore has no collection-level IAM: roles/datastore.user is granted on the project, limited
# by an IAM condition to fnproxy's database (var.restrict_firestore_to_database).

resource "google_project_iam_member" "datastore_user" {
  for_each = local.runtime_members

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value

  dynamic "condition" {
    for_each = var.restrict_firestore_to_database ? [local.database_resource] : []
    content {
      title       = "fnproxy-database-only"
      description = "Only fnproxy's Firestore database"
      expression  = "resource.name == \"${condition.value}\" || resource.name.startsWith(\"${condition.value}/\")"
    }
  }
}

# --- Pub/Sub --------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_publishers

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

resource "google_pubsub_topic_iam_member" "viewer" {
  for_each = local.topic_viewers

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.viewer"
  member  = each.value.member
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.async_dead_letter.id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.pubsub_service_agent}"
}

# Eventarc's push subscription authenticates to the worker with an OIDC token of the trigger
# service account, minted by the Pub/Sub service agent (needed for projects whose agent dates
# from before April 2021; harmless otherwise). Granted on that one service account only.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_service_agent}"
}

# --- Secret Manager -------------------------------------------------------------------------
# accessor: read the versions' values; viewer: list the enabled versions (current and
# previous key) and get the secret (the /health check).

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.runtime_members

  project   = var.project_id
  secret_id = google_secret_manager_secret.module_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret_iam_member" "viewer" {
  for_each = local.runtime_members

  project   = var.project_id
  secret_id = google_secret_manager_secret.module_key.secret_id
  role      = "roles/secretmanager.viewer"
  member    = each.value
}

# --- Cloud Run invokers ---------------------------------------------------------------------
# A 2nd gen function is a Cloud Run service named after it: run.invoker on that service is what
# lets an identity call it.

resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_worker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.worker.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# The public API (var.public_api): fnproxy itself authenticates every call with its JWTs.
resource "google_cloud_run_v2_service_iam_member" "public_api" {
  count = var.public_api ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The same for the gRPC service (cloud_run.tf), when enabled.
resource "google_cloud_run_v2_service_iam_member" "public_grpc" {
  count = var.cloud_run_enabled && var.public_api ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.grpc[0].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# fnproxy's own calls to the functions it may invoke (both the API, for sync calls, and the
# worker, for async ones): only var.invocable_functions.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoker_grants

  project  = each.value.project
  location = each.value.location
  name     = each.value.service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Resolving a function's URL by name (GET .../functions/F) needs cloudfunctions.functions.get;
# listing (GET /v1/providers/gcp_functions/functions) needs cloudfunctions.functions.list, which
# exists only on the project.
resource "google_project_iam_member" "functions_viewer" {
  for_each = var.allow_list_functions ? local.runtime_members : {}

  project = var.project_id
  role    = "roles/cloudfunctions.viewer"
  member  = each.value
}

resource "google_cloudfunctions2_function_iam_member" "viewer" {
  for_each = var.allow_list_functions ? {} : local.invoker_grants

  project        = each.value.project
  location       = each.value.location
  cloud_function = each.value.function
  role           = "roles/cloudfunctions.viewer"
  member         = each.value.member
}
