"""The commented starter configuration written by ``crmsync init``.

It validates cleanly as written (``tests/unit/config`` checks that), so a new user starts from a
working file and edits it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STARTER_CONFIG", "starter_config"]

STARTER_CONFIG = """\
# crmsync configuration. Reference of every key: docs/configuration.md
# Check it with:  crmsync validate --config crmsync.yaml
version: 1

# CRM connections, by name. Secrets are never written here: name an environment variable
# (client_secret_env) or a file (client_secret_file) that holds each secret.
connections:
  dynamics:
    kind: dataverse                      # dataverse | salesforce
    url: https://yourorg.crm.dynamics.com
    tenant_id: 00000000-0000-0000-0000-000000000000
    # authority: https://login.microsoftonline.com/<tenant_id>   # the default
    client_id: 00000000-0000-0000-0000-000000000000
    client_secret_env: CRMSYNC_DYNAMICS_SECRET
    # Or a certificate registered on the application, instead of the secret:
    # certificate_file: certs/crmsync.pem   # may also hold the private key
    # private_key_file: certs/crmsync-key.pem
    # private_key_password_env: CRMSYNC_KEY_PASSWORD
    # ca_bundle: /path/to/ca.pem         # extra trusted CAs (e.g. the emulator's); TLS is verified
    # timeout_seconds: 120               # also max_retries, page_size, batch_size: see the docs
  # salesforce:
  #   kind: salesforce
  #   url: https://yourorg.my.salesforce.com
  #   client_id: your-connected-app-consumer-key
  #   client_secret_file: /run/secrets/salesforce
  #   # flow: password                   # sign in as a user rather than the app's run-as user
  #   # username: integration@yourorg.com
  #   # password_env: CRMSYNC_SF_PASSWORD
  #   # security_token_env: CRMSYNC_SF_TOKEN

# The Campaign store: SQLite (embedded) or PostgreSQL (postgresql+psycopg://user@host/db).
store:
  url: sqlite:///crmsync.db

# The durable change queue: an embedded SQLite file beside the configuration.
# Several processes over a PostgreSQL store share a NATS JetStream queue instead
# (make its stream once with: crmsync queue init --config crmsync.yaml):
#   kind: nats
#   url: tls://nats.example.com:4222
#   stream: CRMSYNC
#   creds_file: /run/secrets/crmsync.creds
queue:
  kind: sqlite
  path: crmsync-queue.db

# Custom resources: one table each, named after the resource. Names are lower-case
# snake_case; they are the table and column names. Publish with:
#   crmsync resources publish --config crmsync.yaml
resources:
  - name: subscription
    identifier: crm_id                   # unique field holding the CRM id
    fields:
      - {name: crm_id, type: string, length: 36}
      - {name: profile_external_id, type: string, length: 255}
      - {name: product, type: string, length: 255}
      - {name: level, type: string, length: 64}
      - {name: started_on, type: date}
      - {name: monthly_amount, type: double}
    links:
      - resource: profile                # the parent; its identifier is external_id
        field: profile_external_id
        cardinality: "0..1"              # "0..1": may exist alone; "1": requires a parent
        on_parent_delete: cascade        # cascade | keep

# CRM -> Campaign. One mapping per CRM table; the Campaign key field must be unique.
inbound:
  poll_interval_seconds: 1.0
  mappings:
    - name: contacts
      connection: dynamics
      crm_table: contact
      resource: profile
      primary_key: {campaign: external_id}   # the CRM key (contactid) is detected
      fields:
        - {crm: emailaddress1, campaign: email}
        - {crm: firstname, campaign: first_name}
        - {crm: lastname, campaign: last_name}
        - {crm: telephone1, campaign: phone}
        - {crm: mobilephone, campaign: mobile_phone}
        - {crm: birthdate, campaign: birth_date, apply_updates: false}
        - {crm: address1_line1, campaign: address_line1}
        - {crm: address1_city, campaign: city}
        - {crm: address1_postalcode, campaign: postal_code}
        - {crm: address1_country, campaign: country}
      # replacements:
      #   - {field: address1_country, from: "Sverige", to: "Sweden"}
      filters:
        combine: and                     # and | or
        conditions:
          - {field: statecode, op: eq, value: 0}
      delete_filtered_out: false
      apply_deletes: true
      picklist_values: technical         # technical | display

# Campaign -> CRM marketing events.
outbound:
  connection: dynamics
  events: {send: false, open: false, click: false, bounce: false}

# Opt-in/out attributes: disabled | crm_to_campaign | campaign_to_crm | bidirectional
optinout:
  direction: disabled
  connection: dynamics
  crm_table: contact
  mappings:
    - {crm: donotbulkemail, campaign: optout_email}
    - {crm: donotphone, campaign: optout_phone}
    - {crm: donotpostalmail, campaign: optout_postal_mail}
    - {crm: donotfax, campaign: optout_fax}
  log_decisions: false
"""


def starter_config(*, emulator_url: str | None = None, ca_bundle: Path | None = None) -> str:
    """The starter configuration, its Dataverse connection pointed at a local emulator when
    ``emulator_url`` is given (the emulator also serves the identity platform) and trusting
    ``ca_bundle`` when given."""
    text = STARTER_CONFIG
    if emulator_url is not None:
        url = emulator_url.rstrip("/")
        text = text.replace(
            "    url: https://yourorg.crm.dynamics.com\n", f"    url: {url}\n"
        ).replace(
            "    # authority: https://login.microsoftonline.com/<tenant_id>   # the default\n",
            f"    authority: {url}/00000000-0000-0000-0000-000000000000   # the emulator's\n",
        )
    if ca_bundle is not None:
        text = text.replace(
            "    # ca_bundle: /path/to/ca.pem         #",
            f"    ca_bundle: {ca_bundle.resolve()}   #",
        )
    return text
