"""The resource types we serve, each declared once (``declaration``), and the User (``user``)."""
from .declaration import (Attribute, Collection, Leaf, Path, ResourceType, Schema)
from .user import CORE_USER, ENTERPRISE_USER, USER

#: Every resource type we serve, by name (a ``$ref`` names its target's type: ``referenceTypes``).
RESOURCE_TYPES = {resource.name: resource for resource in (USER,)}

__all__ = ["Attribute", "CORE_USER", "Collection", "ENTERPRISE_USER", "Leaf", "Path", "RESOURCE_TYPES",
           "ResourceType", "Schema", "USER"]
