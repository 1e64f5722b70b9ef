"""The Pulumi components: the stack configuration models, RegionalWebStack, DatabaseTier and ResilientWebStack with the program."""
