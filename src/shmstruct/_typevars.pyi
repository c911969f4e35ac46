# The type variables of the typing facade (__init__.pyi), in a module of their own: names imported
# into a stub without `as` are not exported, so `Schema` can read well in signatures, in the API
# reference and in type checkers' messages without becoming a name of the shmstruct module.
# (There is no run-time module of this name: only type checkers read it.)

from typing_extensions import ParamSpec, TypeVar

from . import SharedStruct

#: A schema class (a SharedStruct subclass): what `attach`, `table` and `Table[...]` are about.
Schema = TypeVar("Schema", bound=SharedStruct)
#: Another schema class, for the class methods of Table and Log.
OtherSchema = TypeVar("OtherSchema", bound=SharedStruct)
#: Any type: the class named in `nested(Vec3)`.
Value = TypeVar("Value")
#: A schema's constructor parameters: the keywords a log's `append` takes (any, if not known).
Fields = ParamSpec("Fields", default=...)
#: A schema's constructor parameters, as `options()` and `log()` read them from the class.
Params = ParamSpec("Params")
