pub mod estimators;
