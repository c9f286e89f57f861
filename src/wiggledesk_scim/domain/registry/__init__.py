"""The resource types we serve, each declared once (``declaration``): the User (``user``) and the Group
(``group``)."""
from .declaration import (Attribute, Collection, Leaf, Path, ResourceType, Schema)
from .group import CORE_GROUP, GROUP
from .user import CORE_USER, ENTERPRISE_USER, USER

#: Every resource type we serve, by name (a ``$ref`` names its target's type: ``referenceTypes``).
RESOURCE_TYPES = {resource.name: resource for resource in (USER, GROUP)}

__all__ = ["Attribute", "CORE_GROUP", "CORE_USER", "Collection", "ENTERPRISE_USER", "GROUP", "Leaf", "Path",
           "RESOURCE_TYPES", "ResourceType", "Schema", "USER"]
