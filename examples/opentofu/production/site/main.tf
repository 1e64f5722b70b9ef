# One site of the shop: its network, web hosts and one database member, labelled with their roles as the
# components label theirs (resilient-stack:role, resilient-stack:quorum), in the region of the provider the caller
# passes. Least privilege: HTTP(S) to the web hosts from anywhere, SSH from admin_cidr only, PostgreSQL from the
# site's application network only.
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack" }
  }
}

variable "name" { type = string }
variable "web" { type = number }
variable "admin_cidr" { type = string }
variable "app_cidr" { type = string }
variable "flavor_web" {
  type    = string
  default = "b3-8"
}
variable "flavor_db" {
  type    = string
  default = "b3-16"
}
variable "image" {
  type    = string
  default = "Debian 12"
}

resource "openstack_networking_network_v2" "app" {
  name = "${var.name}-app"
}

resource "openstack_networking_subnet_v2" "app" {
  name       = "${var.name}-app"
  network_id = openstack_networking_network_v2.app.id
  cidr       = var.app_cidr
}

resource "openstack_networking_secgroup_v2" "web" {
  name = "${var.name}-web"
}

resource "openstack_networking_secgroup_rule_v2" "https" {
  for_each          = toset(["80", "443"])
  security_group_id = openstack_networking_secgroup_v2.web.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = tonumber(each.key)
  port_range_max    = tonumber(each.key)
  remote_ip_prefix  = "0.0.0.0/0"
}

resource "openstack_networking_secgroup_v2" "db" {
  name = "${var.name}-db"
}

resource "openstack_networking_secgroup_rule_v2" "ssh_web" {
  security_group_id = openstack_networking_secgroup_v2.web.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = var.admin_cidr
}

resource "openstack_networking_secgroup_rule_v2" "ssh_db" {
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
  count           = var.web
  name            = "${var.name}-web-${count.index + 1}"
  flavor_name     = var.flavor_web
  image_name      = var.image
  security_groups = [openstack_networking_secgroup_v2.web.name]
  metadata        = { "resilient-stack:role" = "web" }
  network {
    uuid = openstack_networking_network_v2.app.id
  }
  depends_on = [openstack_networking_subnet_v2.app]
}

resource "openstack_compute_instance_v2" "db" {
  name            = "${var.name}-db"
  flavor_name     = var.flavor_db
  image_name      = var.image
  security_groups = [openstack_networking_secgroup_v2.db.name]
  metadata        = { "resilient-stack:role" = "database", "resilient-stack:quorum" = "true" }
  network {
    uuid = openstack_networking_network_v2.app.id
  }
  depends_on = [openstack_networking_subnet_v2.app]
}
