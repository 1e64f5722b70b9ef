# The March 2021 design, replayed in OpenTofu (examples/sbg2021.design.yaml): every web server, every database
# member and the backups on OVHcloud's Strasbourg campus (SBG5 and SBG7 look like two places; they are one site).
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack", version = "3.4.0" }
  }
}

provider "openstack" {
  alias    = "sbg5"
  auth_url = "https://auth.cloud.ovh.net/v3"
  region   = "SBG5"
}

provider "openstack" {
  alias    = "sbg7"
  auth_url = "https://auth.cloud.ovh.net/v3"
  region   = "SBG7"
}

resource "openstack_compute_instance_v2" "web_sbg5" {
  provider    = openstack.sbg5
  count       = 2
  name        = "shop-sbg5-web-${count.index + 1}"
  flavor_name = "b3-8"
  image_name  = "Debian 12"
  metadata    = { "resilient-stack:role" = "web" }
}

resource "openstack_compute_instance_v2" "web_sbg7" {
  provider    = openstack.sbg7
  name        = "shop-sbg7-web-1"
  flavor_name = "b3-8"
  image_name  = "Debian 12"
  metadata    = { "resilient-stack:role" = "web" }
}

resource "openstack_compute_instance_v2" "db_sbg5" {
  provider    = openstack.sbg5
  name        = "shop-sbg5-db"
  flavor_name = "b3-16"
  image_name  = "Debian 12"
  metadata    = { "resilient-stack:role" = "database", "resilient-stack:quorum" = "true" }
}

resource "openstack_compute_instance_v2" "db_sbg7" {
  provider    = openstack.sbg7
  name        = "shop-sbg7-db"
  flavor_name = "b3-16"
  image_name  = "Debian 12"
  metadata    = { "resilient-stack:role" = "database", "resilient-stack:quorum" = "true" }
}

resource "openstack_objectstorage_container_v1" "db_backups" {
  provider = openstack.sbg5
  name     = "shop-db-backups"
  metadata = { "resilient-stack-role" = "backup", "resilient-stack-protects" = "database" } # header names: no ":"
}
