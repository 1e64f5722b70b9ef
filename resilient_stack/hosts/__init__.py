"""What runs on the hosts: the cloud-init user data of each role, rendered from shipped payload files, and the testinfra inventory."""
