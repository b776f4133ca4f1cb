"""A CSV feed exporter that keeps every column flat.

Scrapy's CSV exporter takes its columns from the first item and writes
lists with ``str()``.  Here the columns are the union of all item types
(with an ``item_type`` column first), and lists and dicts become JSON text,
so one CSV holds repositories and tags and every cell can be parsed back.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from itemadapter import ItemAdapter
from scrapy.exporters import CsvItemExporter

from dockerhub.items import (
    ImageConfigItem,
    ManifestItem,
    PendingFetchItem,
    RepositoryItem,
    TagItem,
    TagManifestItem,
)

ITEM_TYPES: dict[type, str] = {
    RepositoryItem: "repository",
    TagItem: "tag",
    TagManifestItem: "tag_manifest",
    ManifestItem: "manifest",
    ImageConfigItem: "image_config",
    PendingFetchItem: "pending_fetch",
}


def _all_columns() -> list[str]:
    columns = ["item_type"]
    for item_class in ITEM_TYPES:
        for item_field in dataclasses.fields(item_class):
            if item_field.name not in columns:
                columns.append(item_field.name)
    return columns


class FlatCsvItemExporter(CsvItemExporter):
    def __init__(self, file: Any, **kwargs: Any) -> None:
        if not kwargs.get("fields_to_export"):
            kwargs["fields_to_export"] = _all_columns()
        super().__init__(file, **kwargs)

    def export_item(self, item: Any) -> None:
        if type(item) in ITEM_TYPES:
            values = ItemAdapter(item).asdict()
            values["item_type"] = ITEM_TYPES[type(item)]
            item = values
        super().export_item(item)

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False)
        return super().serialize_field(field, name, value)
