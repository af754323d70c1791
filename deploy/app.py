#!/usr/bin/env python3
"""The CDK app `cdk` runs (deploy/cdk.json): streamway's stack from STREAMWAY_DEPLOY_* settings.

`streamway synth` and `streamway deploy` run the same stack in-process; this file is for
people who drive the CDK CLI themselves (`cd deploy && npx aws-cdk diff`).
"""

from __future__ import annotations

import aws_cdk

from streamway.deploy.settings import DeploySettings
from streamway.deploy.synth import build_stack

app = aws_cdk.App()
build_stack(app, DeploySettings())
app.synth()
