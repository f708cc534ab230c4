"""fnproxy core: provider-agnostic; imports no cloud SDK at module top level."""

__version__ = "0.1.0"
