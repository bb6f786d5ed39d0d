"""Organization settings in the compiled read path: ``branding``, ``policies`` and ``settings`` (guarded by
SETTINGS_MANAGE in the schema; the registry binds that guard) read from the organization row's own columns,
``viewerRole`` and ``viewerPermissions`` from the viewer in memory. Wherever an Organization is compiled
(the ``organization(slug:)`` root, a purchase's organization) they cost no statement of their own.

The row becomes the very objects the resolvers return: the document is read by ``models.read`` (what
``service.document`` does with the row), then ``branding_of``, ``policies_of`` and
``OrganizationSettings.from_document``. Those objects are emitted from their strawberry definitions, with
the serializers the schema uses (graphql-core's scalars, the enums' GraphQL names) and their own plain
resolvers (``palette``); ``logoUrl`` is signed by the engine for the same lifetime as the resolvers sign it.
A field the definitions do not let us emit exactly (a guarded, async or argument-taking one, a type
without a serializer here) is not compilable; a value the schema refuses (a null where none is allowed, a
value a scalar cannot serialize) sends the root to the resolvers, which phrase the error.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import orjson
from graphql import FieldNode, GraphQLBoolean, GraphQLError, GraphQLFloat, GraphQLInt, GraphQLString
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.private import is_private
from strawberry.utils.str_converters import to_camel_case

from codex_graphql.content.service import URL_TTL_SECONDS  # the lifetime the compiled path signs URLs for
from codex_graphql.fastpath.registry import Composite, declare
from codex_graphql.fastpath.selection import Fragments, NotCompilable, fields_of, leaf, response_key
from codex_graphql.fastpath.shapes import Emit, NeedsResolvers, Runtime, Shape
from codex_graphql.org_settings import models
from codex_graphql.org_settings.types import (
    LOGO_URL_TTL_SECONDS,
    OrganizationSettings,
    branding_of,
    policies_of,
)
from codex_graphql.organizations.types import Organization

Value = Callable[[Any, Runtime], Any]  # a resolver's result -> its JSON for one selection
SCALARS = {str: GraphQLString, int: GraphQLInt, float: GraphQLFloat, bool: GraphQLBoolean}
LOGO = "logo"  # a selection signs the organization's logo
LOGO_URLS = {("Branding", "logoUrl"), ("OrganizationSettings", "logoUrl")}  # resolved by types._logo_url


def _refused(what: str) -> NeedsResolvers:
    return NeedsResolvers(f"{what}: the resolvers phrase the error")


def _value(type_: Any, node: FieldNode, fragments: Fragments, needs: set[str]) -> Value:
    """How the schema serializes a value of the strawberry type ``type_`` selected by ``node``."""
    nullable = isinstance(type_, StrawberryOptional)
    inner = type_.of_type if nullable else type_
    convert: Value
    if isinstance(inner, StrawberryList):
        item = _value(inner.of_type, node, fragments, needs)

        def convert(value: Any, rt: Runtime) -> Any:
            return [item(v, rt) for v in value]
    elif isinstance(inner, StrawberryEnumDefinition):
        leaf(node)
        enum_class, names = inner.wrapped_cls, {}
        for enum_value in inner.values:  # the first GraphQL name holding the value, as strawberry serializes
            names.setdefault(enum_value.value, enum_value.name)

        def convert(value: Any, rt: Runtime) -> Any:
            if not isinstance(value, enum_class) or value.value not in names:
                raise _refused(f"{inner.name}: not a member")
            return names[value.value]
    elif inner in SCALARS:
        leaf(node)
        serialize = SCALARS[inner].serialize

        def convert(value: Any, rt: Runtime) -> Any:
            try:
                return serialize(value)
            except GraphQLError:
                raise _refused(f"{node.name.value}: not serializable") from None
    elif get_object_definition(inner) is not None:
        convert = _object(inner, node, fragments, needs)
    else:
        raise NotCompilable(f"{node.name.value}: a type without a compiled serializer")

    def value(found: Any, rt: Runtime) -> Any:
        if found is None:
            if nullable:
                return None
            raise _refused(f"{node.name.value}: null")
        return convert(found, rt)
    return value


def _getter(owner: str, field: Any, node: FieldNode) -> Callable[[Any], Any]:
    """The field's value on its object: the attribute, or its plain resolver called on the object."""
    if field.extensions or field.permission_classes or field.directives or node.arguments:
        raise NotCompilable(f"{owner}.{node.name.value}: guarded, extended or with arguments")
    resolver = field.base_resolver
    if resolver is None:
        return attrgetter(field.python_name)
    if (resolver.is_async or resolver.arguments or resolver.self_parameter is None or resolver.info_parameter
            or resolver.root_parameter or resolver.parent_parameter):
        raise NotCompilable(f"{owner}.{node.name.value}: a resolver that needs more than its object")
    call = resolver.wrapped_func

    def resolved(found: Any) -> Any:
        try:
            return call(found)
        except Exception as exc:  # e.g. a stored color coloraide cannot read: the resolvers mask the error
            raise _refused(f"{owner}.{node.name.value} failed") from exc
    return resolved


def _logo_url(node: FieldNode, needs: set[str]) -> tuple[Callable[[Any], Any], Value]:
    """``_logo_url`` of org_settings.types: null without a key, else the URL the engine signed for it."""
    leaf(node)
    if LOGO_URL_TTL_SECONDS != URL_TTL_SECONDS:
        raise NotCompilable("logoUrl: the compiled path signs URLs for another lifetime")
    needs.add(LOGO)
    return attrgetter("logo_key"), lambda key, rt: rt.urls[key].url if key else None


def _object(cls: Any, node: FieldNode, fragments: Fragments, needs: set[str]) -> Value:
    definition = get_object_definition(cls, strict=True)
    fields = {field.graphql_name or to_camel_case(field.python_name): field for field in definition.fields
              if not is_private(field.type)}
    parts: list[tuple[str, Callable[[Any], Any] | None, Value | None]] = []
    for child in fields_of(node.selection_set, definition.name, fragments):
        key, name = response_key(child), child.name.value
        field = fields.get(name)
        if name == "__typename":
            leaf(child)
            parts.append((key, None, None))
        elif field is None:
            raise NotCompilable(f"{definition.name}.{name}")
        elif (definition.name, name) in LOGO_URLS and not field.extensions and not field.permission_classes:
            parts.append((key, *_logo_url(child, needs)))
        else:
            parts.append((key, _getter(definition.name, field, child), _value(field.type, child, fragments, needs)))
    typename = definition.name

    def emit(found: Any, rt: Runtime) -> dict[str, Any]:
        return {key: typename if get is None else value(get(found), rt)  # type: ignore[misc]
                for key, get, value in parts}
    return emit


STORED = frozenset(models.SettingsDocument.model_fields) - frozenset(models.COLUMN_FIELDS)  # the JSONB's keys


class _Source:
    """The value of one document field while a face is traced."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Reads:
    """An object standing in at declaration time: records which of ``names`` are read, answering each
    with ``answer(name)``."""

    def __init__(self, names: set[str], answer: Callable[[str], Any]) -> None:
        self.names, self.answer, self.read = names, answer, set[str]()

    def __getattr__(self, name: str) -> Any:
        if name not in self.names:
            raise AttributeError(name)
        self.read.add(name)
        return self.answer(name)


def _dependencies(make: Callable[[models.SettingsDocument], Any], cls: Any) -> dict[str, frozenset[str]] | None:
    """Per GraphQL field of the face, the stored keys its value comes from (None: ``make`` cannot be traced).

    ``make`` and the type's plain resolvers read fields unconditionally (they are constructors and
    ``palette_of(self.primary_color)``): a value traced to no single field depends on every key."""
    try:
        made = make(_Reads(set(models.SettingsDocument.model_fields), _Source))  # type: ignore[arg-type]
    except Exception:
        return None
    definition = get_object_definition(cls, strict=True)
    attributes = {field.python_name for field in definition.fields}

    def keys_of(attribute: str) -> frozenset[str]:
        value = getattr(made, attribute, None)
        return frozenset({value.name}) & STORED if isinstance(value, _Source) else STORED

    found: dict[str, frozenset[str]] = {}
    for field in definition.fields:
        name, resolver = field.graphql_name or to_camel_case(field.python_name), field.base_resolver
        if (definition.name, name) in LOGO_URLS:
            found[name] = keys_of("logo_key")
        elif resolver is None:
            found[name] = keys_of(field.python_name)
        elif resolver.is_async:
            found[name] = STORED
        else:
            reads = _Reads(attributes, lambda attribute: None)
            try:
                resolver.wrapped_func(reads)
            except Exception:
                found[name] = STORED
                continue
            found[name] = frozenset().union(*(keys_of(attribute) for attribute in reads.read))
    return found


def _document(shape: Shape, face: str, unread: list[str]) -> Callable[[Any], models.SettingsDocument]:
    """The settings document of the row, read as ``service.document`` reads the organization.

    Only the stored keys the selection needs are fetched (the policies alone may be 150 KB, and the
    organization's columns come with every row of a connection read beside them), computed once per
    organization row (``OFFSET 0`` keeps the planner from evaluating it again for each row of that
    connection), and fetched as text, parsed when the row is shaped (a root shapes its first row only)."""
    stored = f"{shape.table}.settings"
    if unread:
        stored = f"{stored} - '{{{','.join(unread)}}}'::text[]"
    n = len(shape.joins)  # a face may be selected twice under two aliases
    lateral = f"{shape.table}_{face}{n}"
    shape.joins.append(f"LEFT JOIN LATERAL (SELECT ({stored})::text AS document OFFSET 0) {lateral} ON true")
    name, timezone = shape.column("name"), shape.column("timezone")
    share = shape.column("creator_share_percent")
    settings = shape.column(f"{face}{n}", f"{lateral}.document")

    def document(row: Any) -> models.SettingsDocument:
        text = row[settings]
        return models.read(row[name], row[timezone], orjson.loads(text) if text is not None else None, row[share])
    return document


def _face(make: Callable[[models.SettingsDocument], Any], field_name: str) -> Composite:
    """An Organization field answered by ``make(document)``, emitted for its selection."""
    type_ = Organization.__strawberry_definition__.get_field(field_name).type  # type: ignore[union-attr]
    cls = type_.of_type if isinstance(type_, StrawberryOptional) else type_
    type_name = get_object_definition(cls, strict=True).name
    dependencies = _dependencies(make, cls)

    def compile_face(shape: Shape, node: FieldNode, fragments: Fragments) -> Emit:
        needs: set[str] = set()
        value = _value(type_, node, fragments, needs)
        keys: frozenset[str] = frozenset()
        for child in fields_of(node.selection_set, type_name, fragments):
            if child.name.value != "__typename":
                keys |= dependencies.get(child.name.value, STORED) if dependencies is not None else STORED
        document = _document(shape, field_name, sorted(STORED - keys))
        if LOGO in needs:
            def logo(row: Any) -> list[str]:
                key = document(row).logo_key
                return [key] if key else []
            shape.signed_keys.append(logo)
        return lambda row, rt: value(make(document(row)), rt)
    return Composite(compile_face)


def _viewer(read: Callable[[Any, Any], Any], field_name: str) -> Composite:
    """An Organization field answered from the viewer and the row's id (no SQL)."""
    type_ = Organization.__strawberry_definition__.get_field(field_name).type  # type: ignore[union-attr]

    def compile_viewer(shape: Shape, node: FieldNode, fragments: Fragments) -> Emit:
        value = _value(type_, node, fragments, set())
        organization = shape.column("id")
        return lambda row, rt: value(read(rt.viewer, row[organization]), rt)
    return Composite(compile_viewer)


declare("Organization", {
    "settings": _face(OrganizationSettings.from_document, "settings"),
    "branding": _face(branding_of, "branding"),
    "policies": _face(policies_of, "policies"),
    # The resolvers' own expressions (Organization.viewer_role, viewer_permissions).
    "viewerRole": _viewer(lambda viewer, organization_id: viewer.role_in(organization_id), "viewer_role"),
    "viewerPermissions": _viewer(lambda viewer, organization_id: sorted(viewer.permissions_in(organization_id)),
                                 "viewer_permissions"),
}, id_type="Organization", organization="id")
