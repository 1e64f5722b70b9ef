"""What runs on the hosts: the cloud-init user data of each role, rendered from shipped payload files, the testinfra
inventory, and the operator's command lines over SSH (:mod:`~resilient_stack.hosts.remote`)."""
