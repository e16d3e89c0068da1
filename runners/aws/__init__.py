"""The AWS backend: the pipeline spec as a SageMaker Pipeline, run on the stack's role, bucket and MLflow."""

from runners.base import BackendOptions, Runner


def create(options: BackendOptions) -> Runner:
    from runners.aws.runner import SageMakerRunner, poll_policy_from_env

    return SageMakerRunner(options.stack_outputs, options.image, options.endpoint_url, poll_policy_from_env())
