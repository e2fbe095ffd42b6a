pub mod asymmetric;
