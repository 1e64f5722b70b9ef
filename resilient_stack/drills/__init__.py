"""The live fire drill: boot the stack in podman per site, burn a site, measure what survives."""
