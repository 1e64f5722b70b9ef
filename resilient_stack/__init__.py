"""resilient_stack: web stacks that survive the loss of a building, a site or a provider.

The pure core (catalog, placement resolution, rules, drill, reports) never imports Pulumi;
the Pulumi components live in their own modules and call the same rules.
"""

__version__ = "0.1.0"
