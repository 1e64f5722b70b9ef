"""The auditor's front: reading design files, stack exports and preview JSON into placements, and rendering reports."""
