"""Runtime bundles: self-describing model directories that the live loop loads."""

from avatarlab.export.bundle import BUNDLE_FORMAT_VERSION, Bundle, BundleError, read_bundle, write_bundle

__all__ = ["BUNDLE_FORMAT_VERSION", "Bundle", "BundleError", "read_bundle", "write_bundle"]
