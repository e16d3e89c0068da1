"""gridcast policy pack: security rules as plain functions (``rules``), wrapped for Pulumi (``pack``)."""
