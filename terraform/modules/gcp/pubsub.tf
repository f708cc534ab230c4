# Pub/Sub: the events topic (EVENTS_TOPIC: one CloudEvent per outcome, attributes type,
# function, provider, success for subscription filters), the async topic (ASYNC_TOPIC: feeds the
# worker; other systems may publish invocation requests to it, see docs/queue-messages.md) and
# its dead-letter topic (ASYNC_DEAD_LETTER_TOPIC), with a subscription that keeps what arrives.
#
# Messages are encrypted with Google-managed keys unless var.pubsub_kms_key_name names a Cloud
# KMS key (CMEK). (checkov's CKV_GCP_83 only sees that kms_key_name is set, not its value.)

resource "google_pubsub_topic" "events" {
  project      = var.project_id
  name         = "${var.name_prefix}-events"
  kms_key_name = var.pubsub_kms_key_name
  labels       = local.labels

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "async" {
  project      = var.project_id
  name         = "${var.name_prefix}-async"
  kms_key_name = var.pubsub_kms_key_name
  labels       = local.labels

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "async_dead_letter" {
  project      = var.project_id
  name         = "${var.name_prefix}-async-dead-letter"
  kms_key_name = var.pubsub_kms_key_name
  labels       = local.labels

  depends_on = [google_project_service.enabled]
}

# Messages published to a topic without subscriptions are lost: this one keeps the dead letters
# (malformed messages copied by the worker with a fnproxy_reason attribute, and messages Pub/Sub
# gave up on after async_max_delivery_attempts) for inspection or replay.
resource "google_pubsub_subscription" "async_dead_letter" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-async-dead-letter"
  topic                      = google_pubsub_topic.async_dead_letter.id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however long nobody reads it
  }
}

# --- the worker's dead-lettering ------------------------------------------------------------
#
# The worker learns that a delivery is the last one from the CloudEvent's `deliveryAttempt`
# (core/events/pubsub.py): Pub/Sub counts deliveries only on a subscription with a dead-letter
# policy, whose maxDeliveryAttempts must equal ASYNC_MAX_RECEIVE_COUNT. The subscription feeding
# the worker is created and owned by Eventarc (the function's event_trigger): the Google provider
# cannot manage it (hashicorp/terraform-provider-google#25069, #17697), and a subscription of our
# own pushing to the worker would not deliver CloudEvents. So, once the trigger exists, gcloud
# sets the policy on Eventarc's subscription, and lets the Pub/Sub service agent consume from it
# (needed to forward messages to the dead-letter topic). It runs again whenever the trigger, the
# topic or the attempt count change.

locals {
  worker_trigger = google_cloudfunctions2_function.worker.event_trigger[0].trigger

  worker_dead_letter_script = <<-EOT
    set -euo pipefail
    # TRIGGER is projects/P/locations/L/triggers/T
    location=$(cut -d/ -f4 <<<"$TRIGGER")
    subscription=$(gcloud eventarc triggers describe "$${TRIGGER##*/}" \
      --project="$PROJECT" --location="$location" \
      --format='value(transport.pubsub.subscription)')
    test -n "$subscription"
    gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
      --project="$PROJECT" --member="serviceAccount:$PUBSUB_AGENT" \
      --role=roles/pubsub.subscriber >/dev/null
    gcloud pubsub subscriptions update "$subscription" --project="$PROJECT" \
      --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$MAX_ATTEMPTS" \
      --ack-deadline=600 --min-retry-delay=10s --max-retry-delay=600s
    echo "dead-letter policy set on $subscription: $MAX_ATTEMPTS attempts, then $DEAD_LETTER_TOPIC"
  EOT
}

resource "terraform_data" "worker_dead_letter" {
  count = var.configure_worker_dead_letter ? 1 : 0

  triggers_replace = [
    local.worker_trigger,
    google_pubsub_topic.async_dead_letter.id,
    var.async_max_delivery_attempts,
  ]

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    command     = local.worker_dead_letter_script
    environment = {
      PROJECT           = var.project_id
      TRIGGER           = local.worker_trigger
      PUBSUB_AGENT      = local.pubsub_service_agent
      DEAD_LETTER_TOPIC = google_pubsub_topic.async_dead_letter.id
      MAX_ATTEMPTS      = tostring(var.async_max_delivery_attempts)
      # never prompt: fail instead
      CLOUDSDK_CORE_DISABLE_PROMPTS = "1"
    }
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher]
}
