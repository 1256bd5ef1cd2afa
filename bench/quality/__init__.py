"""Image quality against a reference: Inception features, FID, KID, and their reference statistics."""
