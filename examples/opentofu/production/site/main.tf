# One site of the shop: web hosts and one database member, labelled with their roles as the components label
# theirs (resilient-stack:role, resilient-stack:quorum), in the region of the provider the caller passes.
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack" }
  }
}

variable "name" { type = string }
variable "web" { type = number }
variable "admin_cidr" { type = string }
variable "app_cidr" { type = string }

resource "openstack_networking_secgroup_v2" "db" {
  name = "${var.name}-db"
}

resource "openstack_networking_secgroup_rule_v2" "ssh" {
  security_group_id = openstack_networking_secgroup_v2.db.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = var.admin_cidr
}

resource "openstack_networking_secgroup_rule_v2" "postgres" {
  security_group_id = openstack_networking_secgroup_v2.db.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 5432
  port_range_max    = 5432
  remote_ip_prefix  = var.app_cidr
}

resource "openstack_compute_instance_v2" "web" {
  count       = var.web
  name        = "${var.name}-web-${count.index + 1}"
  flavor_name = "b3-8"
  image_name  = "Debian 12"
  metadata    = { "resilient-stack:role" = "web" }
}

resource "openstack_compute_instance_v2" "db" {
  name            = "${var.name}-db"
  flavor_name     = "b3-16"
  image_name      = "Debian 12"
  security_groups = [openstack_networking_secgroup_v2.db.name]
  metadata        = { "resilient-stack:role" = "database", "resilient-stack:quorum" = "true" }
}
