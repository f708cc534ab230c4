# --- project and naming -------------------------------------------------------------------

variable "project_id" {
  type        = string
  nullable    = false
  description = "GCP project that holds fnproxy's functions, Firestore database, topics and secret."
}

variable "region" {
  type        = string
  nullable    = false
  description = "Region of the two Cloud Functions, the source bucket and the worker's Eventarc trigger (also GCP_REGION, the default region of gcp_functions targets)."
}

variable "name_prefix" {
  type        = string
  default     = "fnproxy"
  description = "Prefix of every resource name: functions <prefix>-api / <prefix>-worker, topics <prefix>-events / -async / -async-dead-letter, service accounts <prefix>-api / -worker / -trigger. Lowercase letters, digits and hyphens; at most 20 characters (service account ids are limited to 30)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-20 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels put on every resource that takes labels (functions, bucket, topics, subscription, secret)."
}

variable "enable_apis" {
  type        = bool
  default     = true
  description = "Enable the Google APIs fnproxy needs (Cloud Functions, Cloud Run, Cloud Build, Artifact Registry, Eventarc, Pub/Sub, Firestore, Secret Manager, IAM, Storage, Logging, Monitoring, Cloud Resource Manager). They are left enabled on destroy. Cloud Resource Manager must be enabled before the first plan all the same (docs/deploy.md section 5)."
}

# --- the build artifact ---------------------------------------------------------------------

variable "source_zip_path" {
  type        = string
  nullable    = false
  description = "Path of the Cloud Functions source zip written by `make build` (build/gcp/fnproxy-gcp-source.zip: main.py, core/, handlers/, requirements.txt). Its MD5 is part of the object name, so a new build redeploys both functions."
}

variable "runtime" {
  type        = string
  default     = "python311"
  description = "Cloud Functions runtime of both functions."
}

variable "build_service_account" {
  type        = string
  default     = null
  description = "Service account Cloud Build builds the functions as, projects/P/serviceAccounts/EMAIL, with the roles a build needs already granted (roles/logging.logWriter, roles/artifactregistry.writer, roles/storage.objectViewer on the sources); null creates fnproxy's own, <name_prefix>-build, with those roles (iam.tf). Never the project's default build account: in a new project that is the Compute Engine default service account, without roles."
}

# --- the API function -----------------------------------------------------------------------

variable "api_memory" {
  type        = string
  default     = "512Mi"
  description = "Memory of one API instance (Cloud Run units: 256Mi, 512Mi, 1Gi, ...)."
}

variable "api_cpu" {
  type        = string
  default     = "1"
  description = "vCPUs of one API instance; at least 1 when api_concurrency is above 1."
}

variable "api_min_instances" {
  type        = number
  default     = 0
  description = "API instances kept warm (0 scales to zero; 1 removes most cold starts)."
}

variable "api_max_instances" {
  type        = number
  default     = 10
  description = "Most API instances at once: the cap on scale-out (and on cost)."
}

variable "api_concurrency" {
  type        = number
  default     = 80
  description = "Concurrent requests one API instance serves (fnproxy is asyncio: one instance serves many)."
}

variable "api_timeout_seconds" {
  type        = number
  default     = 300
  description = "Request timeout of the API function, seconds (HTTP functions allow up to 3600). Sync invocations and batches must finish within it: keep it above function_timeout."

  validation {
    condition     = var.api_timeout_seconds >= 1 && var.api_timeout_seconds <= 3600
    error_message = "api_timeout_seconds: 1 to 3600."
  }
}

variable "api_ingress" {
  type        = string
  default     = "ALLOW_ALL"
  description = "Ingress of the API function: ALLOW_ALL (public API, the default), ALLOW_INTERNAL_AND_GCLB (behind an external HTTPS load balancer, e.g. with Cloud Armor) or ALLOW_INTERNAL_ONLY."

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_INTERNAL_ONLY"], var.api_ingress)
    error_message = "api_ingress: ALLOW_ALL, ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY."
  }
}

variable "public_api" {
  type        = bool
  default     = false
  description = "Grant roles/run.invoker to allUsers on the API's Cloud Run service, so callers without a Google identity can reach it (fnproxy still authenticates every route but /health, /openapi.json and /docs with its own JWTs). Off by default: the domain-restricted-sharing organisation policy (iam.allowedPolicyMemberDomains), enforced in organisations created since 2024, refuses allUsers; set true only where it allows it. false leaves the API to callers with roles/run.invoker, who send a Google ID token in X-Serverless-Authorization beside fnproxy's own token."
}

# --- the container on Cloud Run (cloud_run.tf) ----------------------------------------------

variable "cloud_run_enabled" {
  type        = bool
  default     = false
  description = "Run fnproxy's container image (the Dockerfile's `fnproxy serve`) as the Cloud Run service <name_prefix>-grpc: fnproxy's gRPC API over HTTP/2 end to end (h2c, port 50051), as the API function's service account, with the functions' settings and the API's ingress, public_api and api_* sizing. Needs cloud_run_image, an image with fnproxy's gRPC server (GRPC_PORT)."
}

variable "cloud_run_image" {
  type        = string
  default     = null
  description = "Image of the Cloud Run service, REGION-docker.pkg.dev/PROJECT/REPOSITORY/fnproxy:TAG, built from the Dockerfile (cloudbuild.yaml with _CLOUD_RUN=true builds and pushes one). Required with cloud_run_enabled."
}

# --- the worker function --------------------------------------------------------------------

variable "worker_memory" {
  type        = string
  default     = "512Mi"
  description = "Memory of one worker instance."
}

variable "worker_cpu" {
  type        = string
  default     = "1"
  description = "vCPUs of one worker instance; at least 1 when worker_concurrency is above 1."
}

variable "worker_min_instances" {
  type        = number
  default     = 0
  description = "Worker instances kept warm."
}

variable "worker_max_instances" {
  type        = number
  default     = 10
  description = "Most worker instances at once: with worker_concurrency, the cap on async executions running together."
}

variable "worker_concurrency" {
  type        = number
  default     = 16
  description = "Async-topic messages one worker instance handles at once."
}

variable "worker_timeout_seconds" {
  type        = number
  default     = 540
  description = "Timeout of one worker delivery, seconds (event-driven functions allow up to 540). The Eventarc subscription's acknowledgement deadline is set to 600 s, above it, so a message is not delivered again while it is still running."

  validation {
    condition     = var.worker_timeout_seconds >= 1 && var.worker_timeout_seconds <= 540
    error_message = "worker_timeout_seconds: 1 to 540 (the limit of event-driven functions)."
  }
}

# --- async delivery and dead-lettering ------------------------------------------------------

variable "async_max_delivery_attempts" {
  type        = number
  default     = 5
  description = "Deliveries of one async message before Pub/Sub dead-letters it: the worker subscription's dead-letter policy maxDeliveryAttempts AND the functions' ASYNC_MAX_RECEIVE_COUNT (the worker records DeadLettered on that delivery; they must be equal). Pub/Sub allows 5 to 100."

  validation {
    condition     = var.async_max_delivery_attempts >= 5 && var.async_max_delivery_attempts <= 100
    error_message = "async_max_delivery_attempts: 5 to 100 (Pub/Sub's range for maxDeliveryAttempts)."
  }
}

variable "configure_worker_dead_letter" {
  type        = bool
  default     = true
  description = "After the worker is deployed, set the dead-letter policy (dead-letter topic, async_max_delivery_attempts), the 600 s acknowledgement deadline and the retry backoff on the Pub/Sub subscription Eventarc created for the worker, and let the Pub/Sub service agent consume from it, with gcloud (a local-exec: gcloud must be installed and authenticated where terraform apply runs). Terraform cannot manage that subscription itself. With false, run the commands of the output worker_dead_letter_command yourself."
}

variable "dead_letter_retention" {
  type        = string
  default     = "604800s"
  description = "How long the dead-letter topic's own subscription keeps unacknowledged messages (at most 31 days: 2678400s)."
}

variable "pubsub_kms_key_name" {
  type        = string
  default     = null
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) encrypting the three topics' messages (CMEK); null uses Google-managed encryption. The Pub/Sub service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
}

# --- Firestore ------------------------------------------------------------------------------

variable "create_firestore_database" {
  type        = bool
  default     = true
  description = "Create the Firestore database (native mode, point-in-time recovery on). false uses an existing database named firestore_database; its composite indexes and field settings are still managed here."
}

variable "firestore_database" {
  type        = string
  default     = "(default)"
  description = "Firestore database id (FIRESTORE_DATABASE): \"(default)\" or a named database (4-63 characters: lowercase letters, digits, hyphens)."
}

variable "firestore_location" {
  type        = string
  default     = null
  description = "Location of a created Firestore database: a region (e.g. europe-west1) or a multi-region (nam5, eur3); null means var.region. Cannot change after creation."
}

variable "firestore_collection_prefix" {
  type        = string
  default     = "fnproxy"
  description = "Prefix of fnproxy's collections, <prefix>_<kind> (FIRESTORE_COLLECTION_PREFIX); the indexes and TTL policies of firestore_schema.json are created for it."
}

variable "restrict_firestore_to_database" {
  type        = bool
  default     = true
  description = "Limit the functions' roles/datastore.user with an IAM condition to fnproxy's database (resource.name of projects/P/databases/D). false grants it on every database of the project (e.g. if an organisation policy forbids conditional bindings)."
}

variable "deletion_protection" {
  type        = bool
  default     = false
  description = "Protect the data: Firestore delete protection on (and the database abandoned, not deleted, on destroy), and the source and archive buckets not force-destroyed. true in prod."
}

# --- the archive (blobs.tf) -----------------------------------------------------------------

variable "blobs_prefix" {
  type        = string
  default     = "fnproxy"
  description = "BLOBS_PREFIX: the name prefix of fnproxy's objects in the archive bucket (no leading or trailing '/'). The runtime accounts' IAM condition, the lifecycle rule and the names all use it."

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$", var.blobs_prefix))
    error_message = "blobs_prefix must be one or more '/'-separated segments of letters, digits and . _ ~ - (e.g. fnproxy), without a leading or trailing '/'."
  }
}

variable "archive_retention_days" {
  type        = number
  default     = 90
  description = "Days the archive bucket's lifecycle rule keeps an object. Longer than history_retention_days (checked): a record must never outlive the objects it refers to, and Firestore's TTL deletes expired records only some time after they expire."

  validation {
    condition     = var.archive_retention_days >= 1
    error_message = "archive_retention_days must be at least 1."
  }
}

variable "archive_all_parts" {
  type        = bool
  default     = false
  description = "true: every payload, result and log goes to the archive (BLOBS_RETENTION_DAYS = archive_retention_days), kept archive_retention_days while its record goes after history_retention_days, at one object write per part. false: only parts above BLOBS_INLINE_BYTES (64 KiB) go there (BLOBS_RETENTION_DAYS = 0)."
}

# --- secret ---------------------------------------------------------------------------------

variable "secret_id" {
  type        = string
  default     = null
  description = "Secret Manager secret id of MODULE_SECRET_KEY (the JWT signing key); null means <name_prefix>-module-secret-key. Terraform creates the secret only, never a version: add one with `gcloud secrets versions add` (see the module's secrets.tf)."
}

variable "secret_kms_key_name" {
  type        = string
  default     = null
  description = "Cloud KMS key (global location) encrypting the signing-key secret (CMEK); null uses Google-managed encryption. The Secret Manager service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
}

# --- what fnproxy may invoke ----------------------------------------------------------------

variable "invocable_functions" {
  type = list(object({
    name    = string
    region  = optional(string)
    project = optional(string)
    service = optional(string)
  }))
  default     = []
  description = "Cloud Functions (2nd gen) fnproxy may invoke: both function service accounts get roles/run.invoker on each one's Cloud Run service, nothing else. region and project default to the module's; service (the Cloud Run service) defaults to the function's name in lowercase."
}

variable "allow_list_functions" {
  type        = bool
  default     = false
  description = "Grant roles/cloudfunctions.viewer on the PROJECT to both function service accounts, for GET /v1/providers/gcp_functions/functions (listing needs project-level cloudfunctions.functions.list: it cannot be granted per function). Off by default: that role shows every function of the project with its environment variables. false grants the viewer role on each of invocable_functions only (enough to resolve a function's URL by name; listing answers 403 forbidden)."
}

# --- settings passed to fnproxy -------------------------------------------------------------

variable "log_level" {
  type        = string
  default     = "INFO"
  description = "LOG_LEVEL of both functions."

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level: DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "function_timeout" {
  type        = number
  default     = 60
  description = "FUNCTION_TIMEOUT: default timeout of one invocation, seconds."
}

variable "max_batch_size" {
  type        = number
  default     = 100
  description = "MAX_BATCH_SIZE: most invocations in one batch, and the cap on its concurrency."
}

variable "max_retries" {
  type        = number
  default     = 3
  description = "MAX_RETRIES: retries of transient invocation failures."
}

variable "retry_delay" {
  type        = number
  default     = 1
  description = "RETRY_DELAY: first retry backoff, seconds."
}

variable "token_ttl_s" {
  type        = number
  default     = 3600
  description = "TOKEN_TTL_S: lifetime of the access tokens fnproxy issues, seconds. Rotate the signing key no more often than this."
}

variable "jwt_issuer" {
  type        = string
  default     = "fnproxy"
  description = "JWT_ISSUER: the iss claim of fnproxy's tokens."
}

variable "jwt_audience" {
  type        = string
  default     = "fnproxy"
  description = "JWT_AUDIENCE: the aud claim of fnproxy's tokens."
}

variable "history_retention_days" {
  type        = number
  default     = 30
  description = "HISTORY_RETENTION_DAYS: days an execution record is kept (then Firestore's TTL policy deletes it)."
}

variable "egress_allow" {
  type        = list(string)
  default     = []
  description = "EGRESS_ALLOW: CIDRs and host globs callers' URLs may reach although the egress policy refuses private, loopback, link-local and metadata destinations (docs/security.md). Empty: public destinations only."
}

variable "max_concurrent_requests" {
  type        = number
  default     = 1000
  description = "MAX_CONCURRENT_REQUESTS: invocations in flight in one function instance at most (api_concurrency requests share it, each batch item counts); past it, 429 too_many_requests with Retry-After."

  validation {
    condition     = var.max_concurrent_requests >= 1
    error_message = "max_concurrent_requests must be at least 1."
  }
}

variable "id_token_audiences" {
  type        = list(string)
  default     = []
  description = "GCP_ID_TOKEN_AUDIENCES: host globs, besides Cloud Functions and Cloud Run hosts, whose https URLs get a Google ID token of fnproxy's service account."
}

variable "secrets_cache_ttl_s" {
  type        = number
  default     = 300
  description = "SECRETS_CACHE_TTL_S: how long secret values (and the signing keys) are cached, seconds: a key rotation is seen within this time."
}

variable "extra_environment" {
  type        = map(string)
  default     = {}
  description = "More environment variables for both functions: any other fnproxy setting (see core/config.py, e.g. MAX_STORED_BYTES, SESSION_TTL_S, OPENWHISK_API_HOST, OPENWHISK_AUTH_KEY_SECRET). It may not repeat a variable the module sets itself (checked at plan time)."
}

# --- alert policies (monitoring.tf) -------------------------------------------------------------

variable "alert_notification_channels" {
  type        = list(string)
  default     = []
  description = "Notification channels every alert policy notifies when it opens and closes (projects/P/notificationChannels/N: e-mail, Pub/Sub, ...); empty: the incidents are only shown in Cloud Monitoring."
}

variable "alert_period_s" {
  type        = number
  default     = 300
  description = "Period every alert policy sums (or, for the dead letters, takes the maximum of) its metric over, in seconds."

  validation {
    condition     = var.alert_period_s >= 60 && var.alert_period_s % 60 == 0
    error_message = "alert_period_s: a whole number of minutes, at least 60."
  }
}

variable "alert_errors_threshold" {
  type        = number
  default     = 1
  description = "fnproxy's ERROR lines (sum over one period) at or above which the errors policy fires."
}

variable "alert_api_5xx_threshold" {
  type        = number
  default     = 1
  description = "API 5xx answers (sum over one period) at or above which the API policy fires."
}
