"""gridcast infrastructure: one Pulumi program, two equivalent stacks (AzureML, SageMaker).

Map of the package:
    __main__.py      program entry: reads config once, builds one component, exports outputs
    config.py        typed stack configuration (the only module that reads ``pulumi.Config``)
    tags.py          the tags every resource carries
    outputs.py       the output keys both clouds export (the runner reads these)
    github_oidc.py   GitHub Actions OIDC constants shared by both clouds and the policy pack
    azure_roles.py   built-in Azure role GUIDs and deterministic role-assignment names
    azure_naming.py  globally unique, deterministic Azure resource names
    azure_stack.py   ``AzureMlStack`` component
    aws_policies.py  IAM / bucket / lifecycle policy documents as pure functions
    aws_stack.py     ``SageMakerStack`` component
    policies/        pulumi-policy pack enforcing the security rules
"""
