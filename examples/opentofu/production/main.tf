# The production design of examples/production.design.yaml in OpenTofu: web and database over Gravelines (GRA11)
# and Warsaw (WAW1) at OVHcloud and Infomaniak's dc4-a, the database's backups in Limburg (DE1) in an OVHcloud
# project of their own. Planned offline to make the auditor's fixtures (scripts/opentofu-fixtures.sh).
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack", version = "3.4.0" }
  }
}

variable "shop_project" {
  type    = string
  default = "5259cd7dd41b49c49180f12a33aacba0"
}
variable "backup_project" {
  type    = string
  default = "a8cab5ea6af0416ba3c31ebb0c871efe"
}
variable "admin_cidr" {
  type    = string
  default = "203.0.113.0/28"
}

provider "openstack" {
  alias     = "gra"
  auth_url  = "https://auth.cloud.ovh.net/v3"
  region    = "GRA11"
  tenant_id = var.shop_project
}

provider "openstack" {
  alias     = "waw"
  auth_url  = "https://auth.cloud.ovh.net/v3"
  region    = "WAW1"
  tenant_id = var.shop_project
}

provider "openstack" {
  alias    = "ik"
  auth_url = "https://api.pub2.infomaniak.cloud/identity/v3"
  region   = "dc4-a"
}

provider "openstack" {
  alias     = "lim"
  auth_url  = "https://auth.cloud.ovh.net/v3"
  region    = "DE1"
  tenant_id = var.backup_project
}

module "gra" {
  source     = "./site"
  providers  = { openstack = openstack.gra }
  name       = "shop-gra"
  web        = 2
  admin_cidr = var.admin_cidr
  app_cidr   = "10.10.0.0/24"
}

module "waw" {
  source     = "./site"
  providers  = { openstack = openstack.waw }
  name       = "shop-waw"
  web        = 2
  admin_cidr = var.admin_cidr
  app_cidr   = "10.20.0.0/24"
}

module "ik" {
  source     = "./site"
  providers  = { openstack = openstack.ik }
  name       = "shop-ik"
  web        = 1
  admin_cidr = var.admin_cidr
  app_cidr   = "10.30.0.0/24"
}

resource "openstack_objectstorage_container_v1" "db_backups" {
  provider = openstack.lim
  name     = "shop-db-backups"
  metadata = { "resilient-stack:role" = "backup", "resilient-stack:protects" = "database" }
}
