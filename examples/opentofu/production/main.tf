# The production design of examples/production.design.yaml in OpenTofu: web and database over Gravelines (GRA11)
# and Warsaw (WAW1) at OVHcloud and Infomaniak's dc4-a, the database's backups in Limburg (DE1) in an OVHcloud
# project of their own. Planned offline, and applied on the local clouds, to make the auditor's fixtures
# (scripts/opentofu-fixtures.sh); the variables below default to the real providers.
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack", version = "3.4.0" }
  }
}

# project ids (null: the project of the clouds.yaml entry)
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
variable "ovh_auth_url" {
  type    = string
  default = "https://auth.cloud.ovh.net/v3"
}
variable "infomaniak_auth_url" {
  type    = string
  default = "https://api.pub2.infomaniak.cloud/identity/v3"
}
# clouds.yaml entries of the shop's and the backups' credentials (null: OS_* variables)
variable "shop_cloud" {
  type    = string
  default = null
}
variable "backup_cloud" {
  type    = string
  default = null
}
variable "infomaniak_cloud" {
  type    = string
  default = null
}

provider "openstack" {
  alias     = "gra"
  auth_url  = var.ovh_auth_url
  cloud     = var.shop_cloud
  region    = "GRA11"
  tenant_id = var.shop_project
}

provider "openstack" {
  alias     = "waw"
  auth_url  = var.ovh_auth_url
  cloud     = var.shop_cloud
  region    = "WAW1"
  tenant_id = var.shop_project
}

provider "openstack" {
  alias    = "ik"
  auth_url = var.infomaniak_auth_url
  cloud    = var.infomaniak_cloud
  region   = "dc4-a"
}

provider "openstack" {
  alias     = "lim"
  auth_url  = var.ovh_auth_url
  cloud     = var.backup_cloud
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
  flavor_web = "a2-ram4-disk20-perf1"
  flavor_db  = "a4-ram8-disk20-perf1"
  image      = "Debian 12 bookworm"
}

resource "openstack_objectstorage_container_v1" "db_backups" {
  provider = openstack.lim
  name     = "shop-db-backups"
  metadata = { "resilient-stack-role" = "backup", "resilient-stack-protects" = "database" } # header names: no ":"
}
