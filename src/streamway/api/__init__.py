"""The API definition shared by `streamway local` and the deploy stack."""
