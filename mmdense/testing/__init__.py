from .multitask_fixtures import (
    write_label_map_mat,
    write_nyud_fixture,
    write_pascal_fixture,
    write_pascal_part_mat,
)

__all__ = [
    'write_nyud_fixture', 'write_pascal_fixture', 'write_pascal_part_mat', 'write_label_map_mat'
]
