"""Registration of every mmdense module into its registries."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmdense (and mmseg) module so that they register themselves.

    Args:
        init_default_scope: whether to set the default scope to ``mmdense`` (as the tools do for
            configs that name no ``default_scope``).
    """
    import mmseg.datasets  # noqa: F401
    import mmseg.engine  # noqa: F401
    import mmseg.evaluation  # noqa: F401
    import mmseg.models  # noqa: F401
    import mmseg.structures  # noqa: F401
    import mmseg.visualization  # noqa: F401

    import mmdense.apis  # noqa: F401
    import mmdense.datasets  # noqa: F401
    import mmdense.engine  # noqa: F401
    import mmdense.evaluation  # noqa: F401
    import mmdense.models  # noqa: F401
    import mmdense.visualization  # noqa: F401

    if init_default_scope:
        never_created = (DefaultScope.get_current_instance() is None
                         or not DefaultScope.check_instance_created('mmdense'))
        if never_created:
            DefaultScope.get_instance('mmdense', scope_name='mmdense')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmdense':
            warnings.warn('The current default scope '
                          f'"{current_scope.scope_name}" is not "mmdense", '
                          '`register_all_modules` will force the current '
                          'default scope to be "mmdense". If this is not '
                          'expected, please set `init_default_scope=False`.',
                          stacklevel=2)
            # avoid name conflict
            new_instance_name = f'mmdense-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='mmdense')
