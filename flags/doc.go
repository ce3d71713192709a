// Package flags will evaluate each key family's migration stage from OpenFeature flags
// (flagd provider, file mode) per entity, behind one narrow stage-lookup interface
// (DESIGN.md §3). Until key families exist, there is nothing to stage.
package flags
