"""Commands against a deployed stack of template.yaml: start and follow the day's sync, the
stack's status, its functions' logs. The stack is found by name, its values read from its
CloudFormation outputs and resources, the same way on real AWS and on the devstack."""
