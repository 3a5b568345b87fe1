"""The movies scaling blueprint: Pulumi components, stage composer and offline tools."""
