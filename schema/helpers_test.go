package schema

import "reflect"

func reflectConfig() reflect.Value { return reflect.ValueOf(Default()).Elem() }
