"""Deployment tooling (issue 7): the build of the cloud artifacts (`python -m deploy.build`), the
generator of the data files Terraform reads (`python -m deploy.schemas`) and the offline checks
(`python -m deploy.checks`). Not part of the fnproxy package: run from the repository root."""
